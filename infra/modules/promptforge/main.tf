# PromptForge on Google Cloud, one environment: the APIs it needs and the names everything shares.

data "google_project" "this" {
  project_id = var.project_id

  lifecycle {
    # Capacity: a private function must serve every dispatch its queues may hold at once, or
    # Cloud Run answers 429 itself and Cloud Tasks throttles the whole queue.
    precondition {
      condition     = var.function_config.worker.max_instances * var.function_config.worker.concurrency >= var.max_concurrent_dispatches
      error_message = "worker max_instances x concurrency must be at least max_concurrent_dispatches (a rate key's queues may hold that many dispatches at once); raise the worker's max_instances or lower max_concurrent_dispatches."
    }
    precondition {
      condition     = var.function_config.controller.max_instances * var.function_config.controller.concurrency >= local.control_queue.max_concurrent_dispatches
      error_message = "controller max_instances x concurrency must be at least the control queue's max_concurrent_dispatches."
    }
    postcondition {
      # Cloud Run gives a deterministic URL only while SERVICE-PROJECT_NUMBER fits a DNS label.
      condition     = alltrue([for name in values(local.function_names) : length("${name}-${self.number}") <= 63])
      error_message = "Function names are too long for Cloud Run's deterministic run.app URL; shorten name_prefix."
    }
  }
}

locals {
  prefix         = "${var.name_prefix}-${var.environment}"
  tasks_location = coalesce(var.tasks_location, var.region)
  labels         = merge(var.labels, { app = "promptforge", env = var.environment })

  function_names = {
    api        = "${local.prefix}-api"
    ingest     = "${local.prefix}-ingest"
    worker     = "${local.prefix}-worker"
    controller = "${local.prefix}-controller"
  }

  # Cloud Run's deterministic URL (https://SERVICE-PROJECT_NUMBER.REGION.run.app) is known before
  # the functions exist, so the worker and controller URLs can be handed to every function without
  # a dependency cycle (the controller enqueues tasks to itself). Tasks use run.app URLs, which
  # count as internal traffic for the private functions' ingress setting.
  run_urls = {
    for k, name in local.function_names :
    k => "https://${name}-${data.google_project.this.number}.${var.region}.run.app"
  }

  # The settings promptforge.gcp.settings.GcpSettings reads (env prefix PROMPTFORGE_).
  environment = merge(var.extra_environment, {
    PROMPTFORGE_GCP_PROJECT               = var.project_id
    PROMPTFORGE_GCP_REGION                = var.region
    PROMPTFORGE_INPUT_BUCKET              = google_storage_bucket.input.name
    PROMPTFORGE_OUTPUT_BUCKET             = google_storage_bucket.output.name
    PROMPTFORGE_FIRESTORE_DATABASE        = google_firestore_database.this.name
    PROMPTFORGE_TASKS_LOCATION            = local.tasks_location
    PROMPTFORGE_WORKER_URL                = local.run_urls.worker
    PROMPTFORGE_CONTROLLER_URL            = local.run_urls.controller
    PROMPTFORGE_TASKS_SERVICE_ACCOUNT     = google_service_account.tasks.email
    PROMPTFORGE_SECRET_PREFIX             = local.prefix
    PROMPTFORGE_MAX_CONCURRENT_DISPATCHES = tostring(var.max_concurrent_dispatches)
    PROMPTFORGE_RETENTION_DAYS            = tostring(var.output_retention_days)
  })
}

# cloudresourcemanager and serviceusage must already be on (docs/deploy.md enables them with
# gcloud) for Terraform to enable the rest.
resource "google_project_service" "this" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudtasks.googleapis.com",
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])

  project = var.project_id
  service = each.value
  # Turning an API off on destroy would break anything else in the project that uses it.
  disable_on_destroy = false
}

# Eventarc's service agent appears some time after the API is turned on; asking for it makes
# sure it exists before the ingest trigger is created.
resource "google_project_service_identity" "eventarc" {
  provider = google-beta

  project = var.project_id
  service = "eventarc.googleapis.com"

  depends_on = [google_project_service.this]
}
