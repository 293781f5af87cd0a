variable "account_id" {
  type        = string
  description = "Account id of the function's own runtime service account (one per function, never shared)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.account_id))
    error_message = "account_id must be 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "build_service_account_id" {
  type        = string
  description = "Full resource id (projects/P/serviceAccounts/EMAIL) of the service account Cloud Build uses to build the function."
}

variable "concurrency" {
  type        = number
  description = "Requests one instance serves at once (1-1000)."

  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 1000 && floor(var.concurrency) == var.concurrency
    error_message = "concurrency must be a whole number from 1 to 1000."
  }
}

variable "cpu" {
  type        = string
  description = "vCPUs per instance, e.g. \"1\" (concurrency above 1 needs at least one whole vCPU)."

  validation {
    condition     = can(regex("^(0\\.[0-9]+|[1-8])$", var.cpu))
    error_message = "cpu must be a fraction below 1 or a whole number from 1 to 8."
  }
}

variable "description" {
  type        = string
  description = "What the function does (shown in the console)."
}

variable "docker_repository" {
  type        = string
  description = "Artifact Registry repository id (projects/P/locations/R/repositories/NAME) that stores the built image."
}

variable "entry_point" {
  type        = string
  description = "Python function that functions-framework serves (the name defined in main.py)."
}

variable "environment_variables" {
  type        = map(string)
  description = "Runtime environment (PROMPTFORGE_* settings); never secrets, which the app reads from Secret Manager."
  default     = {}
}

variable "event_trigger" {
  type = object({
    event_type            = string
    bucket                = string
    service_account_email = string
    retry                 = bool
  })
  description = "Eventarc trigger on a Cloud Storage bucket; null for an HTTP function."
  default     = null
}

variable "invoker_members" {
  type        = map(string)
  description = "IAM members allowed to invoke the private function, keyed by a static label (e.g. tasks = \"serviceAccount:...\")."
  default     = {}

  validation {
    condition     = alltrue([for m in values(var.invoker_members) : startswith(m, "serviceAccount:")])
    error_message = "invoker_members may only name service accounts; use public = true for the API."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels for the function."
  default     = {}
}

variable "max_instances" {
  type        = number
  description = "Upper bound on instances (caps cost and the load on Firestore)."

  validation {
    condition     = var.max_instances >= 1
    error_message = "max_instances must be at least 1."
  }
}

variable "memory" {
  type        = string
  description = "Memory per instance, e.g. 512Mi or 1Gi."

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.memory))
    error_message = "memory must be a number followed by Mi or Gi, e.g. 512Mi."
  }
}

variable "min_instances" {
  type        = number
  description = "Instances kept warm (0 scales to zero)."
  default     = 0

  validation {
    condition     = var.min_instances >= 0
    error_message = "min_instances cannot be negative."
  }
}

variable "name" {
  type        = string
  description = "Function name; also the name of the Cloud Run service behind it and part of its run.app URL."

  validation {
    # Cloud Run service names: lower-case letters, digits and hyphens, at most 49 characters.
    condition     = can(regex("^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$", var.name))
    error_message = "name must be 1-49 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "project_id" {
  type        = string
  description = "Google Cloud project that holds the function."
}

variable "public" {
  type        = bool
  description = "Whether anyone on the internet may invoke the function (only the API; the app authenticates callers by X-API-Key)."
  default     = false
}

variable "region" {
  type        = string
  description = "Region of the function (and of its Eventarc trigger, which must match the bucket's region)."
}

variable "runtime" {
  type        = string
  description = "Cloud Functions runtime id."
  default     = "python311"

  validation {
    condition     = can(regex("^python3[0-9]+$", var.runtime))
    error_message = "runtime must be a Python runtime such as python311."
  }
}

variable "source_bucket" {
  type        = string
  description = "Private bucket that receives the zipped source (objects are named by content hash)."
}

variable "source_dir" {
  type        = string
  description = "Folder with the packaged function (main.py, requirements.txt and the vendored library); zipped by Terraform."
}

variable "timeout_seconds" {
  type        = number
  description = "Request timeout in seconds (event-triggered functions allow at most 540)."

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 3600
    error_message = "timeout_seconds must be between 1 and 3600."
  }
}

variable "wait_for" {
  type        = list(string)
  description = "Ids of resources (IAM grants, service identities) that must exist before the function is created."
  default     = []
}
