# The four Cloud Functions (2nd gen), one module instance each (for_each over local.functions).
# Entry points and sources follow the shared GCP names; each function's sizing is
# var.function_config (typed, with per-function defaults in variables.tf).

locals {
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

locals {
  # What differs between the functions besides their sizing: who may call them, and how.
  functions = {
    api = {
      description     = "PromptForge API: jobs init, status and results (X-API-Key auth in the app)."
      public          = true
      invoker_members = {}
      event_trigger   = null
      wait_for        = local.build_ready
    }
    ingest = {
      description     = "PromptForge ingest: turns an upload-finalized event into the job's (named) ingest task."
      public          = false
      invoker_members = { events = "serviceAccount:${google_service_account.events.email}" }
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
    worker = {
      description     = "PromptForge worker: one prompt per Cloud Tasks delivery, sent to the provider."
      public          = false
      invoker_members = { tasks = "serviceAccount:${google_service_account.tasks.email}" }
      event_trigger   = null
      wait_for        = local.build_ready
    }
    controller = {
      description     = "PromptForge controller: retunes each rate key's queue, ingests, finalizes and expires jobs."
      public          = false
      invoker_members = { tasks = "serviceAccount:${google_service_account.tasks.email}" }
      event_trigger   = null
      wait_for        = local.build_ready
    }
  }
}

module "function" {
  source   = "../function"
  for_each = local.functions

  project_id  = var.project_id
  region      = var.region
  name        = local.function_names[each.key]
  account_id  = "${local.prefix}-${each.key}"
  description = each.value.description
  entry_point = each.key
  source_dir  = "${var.functions_source_dir}/${each.key}"
  runtime     = var.python_runtime
  labels      = local.labels

  source_bucket            = local.build_settings.source_bucket
  build_service_account_id = local.build_settings.build_service_account_id
  docker_repository        = local.build_settings.docker_repository

  memory          = var.function_config[each.key].memory
  cpu             = var.function_config[each.key].cpu
  concurrency     = var.function_config[each.key].concurrency
  timeout_seconds = var.function_config[each.key].timeout_seconds
  min_instances   = var.function_config[each.key].min_instances
  max_instances   = var.function_config[each.key].max_instances

  environment_variables = local.environment
  public                = each.value.public
  invoker_members       = each.value.invoker_members
  event_trigger         = each.value.event_trigger

  wait_for = each.value.wait_for
}
