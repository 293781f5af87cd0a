variable "deploy_trigger" {
  type = object({
    repository            = string
    branch                = optional(string)
    tag                   = optional(string)
    service_account_email = string
    state_bucket          = string
    require_approval      = optional(bool, false)
  })
  description = "Cloud Build trigger that runs cloudbuild.yaml for this environment; repository is a 2nd-gen repository id (projects/P/locations/R/connections/C/repositories/NAME). Prod always requires approval. Null creates no trigger."
  default     = null

  validation {
    condition     = var.deploy_trigger == null || (try(var.deploy_trigger.branch, null) == null) != (try(var.deploy_trigger.tag, null) == null)
    error_message = "deploy_trigger needs exactly one of branch or tag (a regular expression)."
  }
}

variable "environment" {
  type        = string
  description = "Environment name; part of every resource name."

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "extra_environment" {
  type        = map(string)
  description = "Additional non-secret PROMPTFORGE_* settings for all functions (e.g. PROMPTFORGE_LINES_PER_PART)."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_environment) : startswith(k, "PROMPTFORGE_")])
    error_message = "extra_environment keys must start with PROMPTFORGE_."
  }
}

variable "firestore_database" {
  type        = string
  description = "Firestore database id used by the functions."
  default     = "(default)"

  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be (default) or 4-63 lower-case letters, digits or hyphens."
  }
}

variable "firestore_indexes_file" {
  type        = string
  description = "JSON file of composite indexes and field overrides in the Firebase firestore.indexes.json format; a missing file means none."
  default     = null
}

variable "firestore_location" {
  type        = string
  description = "Firestore location (e.g. eur3, nam5 or a region); null uses var.region."
  default     = null
}

variable "firestore_protect" {
  type        = bool
  description = "Turn on Firestore delete protection and point-in-time recovery, and keep the database on terraform destroy."
  default     = true
}

variable "force_destroy_buckets" {
  type        = bool
  description = "Let terraform destroy delete buckets that still hold objects (dev only)."
  default     = false
}

variable "function_config" {
  type = object({
    # Stateless HTTP API: many light requests per instance.
    api = optional(object({
      memory          = optional(string, "512Mi")
      cpu             = optional(string, "1")
      concurrency     = optional(number, 80)
      timeout_seconds = optional(number, 60)
      min_instances   = optional(number, 0)
      max_instances   = optional(number, 20)
    }), {})
    # Only turns the upload event into one named ingest task: small and quick.
    ingest = optional(object({
      memory          = optional(string, "512Mi")
      cpu             = optional(string, "1")
      concurrency     = optional(number, 10)
      timeout_seconds = optional(number, 60)
      min_instances   = optional(number, 0)
      max_instances   = optional(number, 10)
    }), {})
    # A chunk of prompts per task (core/chunks.py), mostly waiting on the provider: high
    # concurrency; the timeout covers a chunk's 240 s of starting calls plus the last call's
    # provider timeout (300 s), within Cloud Tasks' default 600 s dispatch deadline.
    worker = optional(object({
      memory          = optional(string, "1Gi")
      cpu             = optional(string, "1")
      concurrency     = optional(number, 80)
      timeout_seconds = optional(number, 600)
      min_instances   = optional(number, 0)
      max_instances   = optional(number, 100)
    }), {})
    # Control ticks, plus ingest, slice and finalize, which stream whole files in bounded
    # batches: Cloud Tasks gives those 30 minutes (the longest dispatch deadline), so does this.
    controller = optional(object({
      memory          = optional(string, "1Gi")
      cpu             = optional(string, "1")
      concurrency     = optional(number, 8)
      timeout_seconds = optional(number, 1800)
      min_instances   = optional(number, 0)
      max_instances   = optional(number, 10)
    }), {})
  })
  description = "Sizing of each function (api, ingest, worker, controller); any field left out keeps its default."
  default     = {}

  validation {
    condition     = alltrue([for fn in values(var.function_config) : fn.concurrency >= 1 && fn.concurrency <= 1000 && floor(fn.concurrency) == fn.concurrency])
    error_message = "function_config: concurrency must be a whole number from 1 to 1000."
  }

  validation {
    condition     = alltrue([for fn in values(var.function_config) : fn.min_instances >= 0 && fn.max_instances >= 1 && fn.min_instances <= fn.max_instances])
    error_message = "function_config: need 0 <= min_instances <= max_instances and max_instances >= 1."
  }

  validation {
    condition     = alltrue([for fn in values(var.function_config) : fn.timeout_seconds >= 1 && fn.timeout_seconds <= 3600]) && var.function_config.ingest.timeout_seconds <= 540
    error_message = "function_config: timeout_seconds must be between 1 and 3600 (at most 540 for the event-triggered ingest)."
  }

  validation {
    condition     = alltrue([for fn in values(var.function_config) : can(regex("^[0-9]+(Mi|Gi)$", fn.memory)) && can(regex("^(0\\.[0-9]+|[1-8])$", fn.cpu))])
    error_message = "function_config: memory is a number followed by Mi or Gi (e.g. 512Mi); cpu a fraction below 1 or a whole number from 1 to 8."
  }

  validation {
    condition     = alltrue([for fn in values(var.function_config) : fn.concurrency == 1 || can(regex("^[1-8]$", fn.cpu))])
    error_message = "function_config: a concurrency above 1 needs at least one whole vCPU."
  }
}

variable "functions_source_dir" {
  type        = string
  description = "Folder holding one packaged folder per function (api, ingest, worker, controller), as written by scripts/package_functions.py."
}

variable "input_retention_days" {
  type        = number
  description = "Days after which uploaded prompt files are deleted from the input bucket."
  default     = 7

  validation {
    condition     = var.input_retention_days >= 1 && var.input_retention_days <= 365
    error_message = "input_retention_days must be between 1 and 365."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels for every resource that takes labels (app and env are always set)."
  default     = {}
}

variable "llm_providers" {
  type        = list(string)
  description = "Providers that get a Secret Manager secret <prefix>-<env>-<provider>-api-key (values are added with gcloud, never by Terraform)."
  default     = ["openai", "anthropic", "gemini", "mistral"]

  validation {
    condition     = length(var.llm_providers) > 0 && alltrue([for p in var.llm_providers : contains(["openai", "anthropic", "gemini", "mistral"], p)])
    error_message = "llm_providers must be a non-empty subset of openai, anthropic, gemini, mistral."
  }
}

variable "max_concurrent_dispatches" {
  type        = number
  description = "Most dispatches a rate key's queues hold at once (PROMPTFORGE_MAX_CONCURRENT_DISPATCHES); the worker's max_instances x concurrency must reach it."
  default     = 1000

  validation {
    condition     = var.max_concurrent_dispatches >= 1 && var.max_concurrent_dispatches <= 5000
    error_message = "max_concurrent_dispatches must be between 1 and 5000 (Cloud Tasks' cap per queue)."
  }
}

variable "name_prefix" {
  type        = string
  description = "Short prefix of resource names (<prefix>-<environment>-<thing>)."
  default     = "pf"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,5}$", var.name_prefix))
    error_message = "name_prefix must be 2-6 lower-case letters or digits, starting with a letter."
  }
}

variable "output_retention_days" {
  type        = number
  description = "Days after which result shards and errors.jsonl are deleted from the output bucket."
  default     = 30

  validation {
    condition     = var.output_retention_days >= 1 && var.output_retention_days <= 3650
    error_message = "output_retention_days must be between 1 and 3650."
  }
}

variable "project_id" {
  type        = string
  description = "Google Cloud project of this environment (one project per environment: queue names are fixed by the app)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lower-case letters, digits or hyphens."
  }
}

variable "python_runtime" {
  type        = string
  description = "Cloud Functions runtime of all four functions."
  default     = "python311"

  validation {
    condition     = can(regex("^python3[0-9]+$", var.python_runtime))
    error_message = "python_runtime must be a Python runtime id such as python311."
  }
}

variable "region" {
  type        = string
  description = "Region of the functions, buckets, queues and Eventarc trigger, e.g. europe-west1."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 (not a multi-region)."
  }
}

variable "tasks_location" {
  type        = string
  description = "Cloud Tasks location of the queues the app creates; null uses var.region."
  default     = null
}

variable "upload_cors_origins" {
  type        = list(string)
  description = "Browser origins allowed to PUT to upload URLs (empty: uploads from CLIs and servers only)."
  default     = []

  validation {
    condition     = alltrue([for o in var.upload_cors_origins : can(regex("^https://[^/*]+$", o))])
    error_message = "upload_cors_origins must be https origins without paths or wildcards."
  }
}
