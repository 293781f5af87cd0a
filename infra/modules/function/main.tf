# One Cloud Function (2nd gen) with its own runtime identity, its zipped source and who may call it.

resource "google_service_account" "this" {
  project      = var.project_id
  account_id   = var.account_id
  display_name = "PromptForge ${var.name}"
  description  = "Runtime identity of the ${var.name} function only; it holds just the roles that function uses."
}

# The packaged folder (scripts/package_functions.py) is zipped at plan time; the object is named
# by its content hash, so a changed source is a new object and a new build, an unchanged one is not.
# The archive provider zeroes timestamps; a fixed file mode makes the hash independent of the
# checkout's umask too, so a fresh clone in Cloud Build does not rebuild unchanged functions.
data "archive_file" "source" {
  type             = "zip"
  source_dir       = var.source_dir
  output_path      = "${path.root}/.build/${var.name}.zip"
  output_file_mode = "0644"
}

resource "google_storage_bucket_object" "source" {
  bucket       = var.source_bucket
  name         = "${var.name}/${data.archive_file.source.output_md5}.zip"
  source       = data.archive_file.source.output_path
  content_type = "application/zip"
}

# Orders the function after grants made outside this module without a module-level depends_on,
# which would defer reading the source archive to apply time.
resource "terraform_data" "wait_for" {
  input = var.wait_for
}

resource "google_cloudfunctions2_function" "this" {
  # checkov:skip=CKV_GCP_124:Ingress is ALLOW_ALL only when var.public (the API, which clients call from the internet and which authenticates them by X-API-Key); every other function is ALLOW_INTERNAL_ONLY, asserted by tests/infra/test_terraform_structure.py.
  project     = var.project_id
  location    = var.region
  name        = var.name
  description = var.description
  labels      = var.labels

  build_config {
    runtime           = var.runtime
    entry_point       = var.entry_point
    service_account   = var.build_service_account_id
    docker_repository = var.docker_repository

    source {
      storage_source {
        bucket = var.source_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = var.memory
    available_cpu                    = var.cpu
    max_instance_request_concurrency = var.concurrency
    timeout_seconds                  = var.timeout_seconds
    min_instance_count               = var.min_instances
    max_instance_count               = var.max_instances
    # Private functions are reached only by Cloud Tasks and Eventarc in the same project, both of
    # which count as internal traffic on the default run.app URL.
    ingress_settings               = var.public ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.this.email
    # Cloud Functions sets LOG_EXECUTION_ID itself; stating it keeps plans free of a permanent diff.
    environment_variables = merge(var.environment_variables, { LOG_EXECUTION_ID = "true" })
  }

  dynamic "event_trigger" {
    for_each = var.event_trigger == null ? [] : [var.event_trigger]
    content {
      trigger_region        = var.region
      event_type            = event_trigger.value.event_type
      retry_policy          = event_trigger.value.retry ? "RETRY_POLICY_RETRY" : "RETRY_POLICY_DO_NOT_RETRY"
      service_account_email = event_trigger.value.service_account_email

      event_filters {
        attribute = "bucket"
        value     = event_trigger.value.bucket
      }
    }
  }

  depends_on = [terraform_data.wait_for]

  lifecycle {
    precondition {
      condition     = var.concurrency == 1 || tonumber(var.cpu) >= 1
      error_message = "A concurrency above 1 needs at least one whole vCPU (cpu >= 1)."
    }
    precondition {
      condition     = var.event_trigger == null || var.timeout_seconds <= 540
      error_message = "Event-triggered functions time out after at most 540 seconds."
    }
  }
}

# Gen2 functions are Cloud Run services: invocation is roles/run.invoker on the service.
resource "google_cloud_run_service_iam_member" "invoker" {
  for_each = var.invoker_members

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = each.value
}

# The only public binding in the whole configuration; the structural test checks that just the
# API sets public = true.
resource "google_cloud_run_service_iam_member" "public" {
  # checkov:skip=CKV_GCP_102:The public API is the product (POST /v1/jobs/init etc.); callers are authenticated by hashed X-API-Key in the app. Only the api module sets public = true, asserted by tests/infra/test_terraform_structure.py.
  count = var.public ? 1 : 0

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
