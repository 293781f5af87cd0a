# The four Cloud Functions (2nd gen). Entry points and settings follow the shared GCP names; sizes
# are defaults that function_overrides can replace per environment.

locals {
  function_defaults = {
    # Stateless HTTP API: many light requests per instance.
    api = { memory = "512Mi", cpu = "1", concurrency = 80, timeout_seconds = 60, min_instances = 0, max_instances = 20 }
    # Only turns the upload event into one named ingest task: small and quick.
    ingest = { memory = "512Mi", cpu = "1", concurrency = 10, timeout_seconds = 60, min_instances = 0, max_instances = 10 }
    # One prompt per task, mostly waiting on the provider: high concurrency, generous timeout.
    worker = { memory = "1Gi", cpu = "1", concurrency = 80, timeout_seconds = 360, min_instances = 0, max_instances = 100 }
    # Control ticks, plus ingest, slice and finalize, which stream whole files in bounded
    # batches: Cloud Tasks gives those 30 minutes (the longest dispatch deadline), so does this.
    controller = { memory = "1Gi", cpu = "1", concurrency = 8, timeout_seconds = 1800, min_instances = 0, max_instances = 10 }
  }

  function_settings = {
    for fn, defaults in local.function_defaults :
    fn => merge(defaults, { for k, v in try(var.function_overrides[fn], {}) : k => v if v != null })
  }

  build_settings = {
    source_bucket            = google_storage_bucket.sources.name
    build_service_account_id = google_service_account.build.name
    docker_repository        = google_artifact_registry_repository.functions.id
  }

  # Grants a build needs before the first function is created (a module-level depends_on would
  # defer reading the source archive to apply time and rebuild every function on every change).
  build_ready = [
    google_project_iam_member.build_writes_logs.id,
    google_project_iam_member.build_reads_staged_sources.id,
    google_artifact_registry_repository_iam_member.build_pushes_images.id,
    google_storage_bucket_iam_member.build_reads_sources.id,
  ]
}

module "api" {
  source = "../function"

  project_id  = var.project_id
  region      = var.region
  name        = local.function_names.api
  account_id  = "${local.prefix}-api"
  description = "PromptForge API: jobs init, status and results (X-API-Key auth in the app)."
  entry_point = "api"
  source_dir  = "${var.functions_source_dir}/api"
  runtime     = var.python_runtime
  labels      = local.labels

  source_bucket            = local.build_settings.source_bucket
  build_service_account_id = local.build_settings.build_service_account_id
  docker_repository        = local.build_settings.docker_repository

  memory          = local.function_settings.api.memory
  cpu             = local.function_settings.api.cpu
  concurrency     = local.function_settings.api.concurrency
  timeout_seconds = local.function_settings.api.timeout_seconds
  min_instances   = local.function_settings.api.min_instances
  max_instances   = local.function_settings.api.max_instances

  environment_variables = local.environment
  public                = true

  wait_for = local.build_ready
}

module "ingest" {
  source = "../function"

  project_id  = var.project_id
  region      = var.region
  name        = local.function_names.ingest
  account_id  = "${local.prefix}-ingest"
  description = "PromptForge ingest: turns an upload-finalized event into the job's (named) ingest task."
  entry_point = "ingest"
  source_dir  = "${var.functions_source_dir}/ingest"
  runtime     = var.python_runtime
  labels      = local.labels

  source_bucket            = local.build_settings.source_bucket
  build_service_account_id = local.build_settings.build_service_account_id
  docker_repository        = local.build_settings.docker_repository

  memory          = local.function_settings.ingest.memory
  cpu             = local.function_settings.ingest.cpu
  concurrency     = local.function_settings.ingest.concurrency
  timeout_seconds = local.function_settings.ingest.timeout_seconds
  min_instances   = local.function_settings.ingest.min_instances
  max_instances   = local.function_settings.ingest.max_instances

  environment_variables = local.environment
  invoker_members       = { events = "serviceAccount:${google_service_account.events.email}" }

  event_trigger = {
    event_type            = "google.cloud.storage.object.v1.finalized"
    bucket                = google_storage_bucket.input.name
    service_account_email = google_service_account.events.email
    # At-least-once with retries: the app dedupes on bucket + name + generation.
    retry = true
  }

  wait_for = concat(local.build_ready, [
    google_project_service_identity.eventarc.id,
    google_project_iam_member.gcs_publishes_events.id,
    google_project_iam_member.events_receive.id,
  ])
}

module "worker" {
  source = "../function"

  project_id  = var.project_id
  region      = var.region
  name        = local.function_names.worker
  account_id  = "${local.prefix}-worker"
  description = "PromptForge worker: one prompt per Cloud Tasks delivery, sent to the provider."
  entry_point = "worker"
  source_dir  = "${var.functions_source_dir}/worker"
  runtime     = var.python_runtime
  labels      = local.labels

  source_bucket            = local.build_settings.source_bucket
  build_service_account_id = local.build_settings.build_service_account_id
  docker_repository        = local.build_settings.docker_repository

  memory          = local.function_settings.worker.memory
  cpu             = local.function_settings.worker.cpu
  concurrency     = local.function_settings.worker.concurrency
  timeout_seconds = local.function_settings.worker.timeout_seconds
  min_instances   = local.function_settings.worker.min_instances
  max_instances   = local.function_settings.worker.max_instances

  environment_variables = local.environment
  invoker_members       = { tasks = "serviceAccount:${google_service_account.tasks.email}" }

  wait_for = local.build_ready
}

module "controller" {
  source = "../function"

  project_id  = var.project_id
  region      = var.region
  name        = local.function_names.controller
  account_id  = "${local.prefix}-controller"
  description = "PromptForge controller: retunes each rate key's queue, ingests, finalizes and expires jobs."
  entry_point = "controller"
  source_dir  = "${var.functions_source_dir}/controller"
  runtime     = var.python_runtime
  labels      = local.labels

  source_bucket            = local.build_settings.source_bucket
  build_service_account_id = local.build_settings.build_service_account_id
  docker_repository        = local.build_settings.docker_repository

  memory          = local.function_settings.controller.memory
  cpu             = local.function_settings.controller.cpu
  concurrency     = local.function_settings.controller.concurrency
  timeout_seconds = local.function_settings.controller.timeout_seconds
  min_instances   = local.function_settings.controller.min_instances
  max_instances   = local.function_settings.controller.max_instances

  environment_variables = local.environment
  invoker_members       = { tasks = "serviceAccount:${google_service_account.tasks.email}" }

  wait_for = local.build_ready
}
