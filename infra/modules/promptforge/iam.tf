# Identities and least-privilege grants. Each function runs as its own service account (created in
# modules/function); three more identities exist for one job each:
#   tasks  - the OIDC identity Cloud Tasks presents to the private worker and controller;
#   events - the identity Eventarc uses to deliver upload events to ingest;
#   build  - the identity Cloud Build uses to build the function images.
# No primitive role (owner/editor/viewer) is granted anywhere; grants are on the bucket, secret,
# service account or service they concern whenever Google Cloud allows it.

resource "google_service_account" "tasks" {
  project      = var.project_id
  account_id   = "${local.prefix}-tasks"
  display_name = "PromptForge ${var.environment} Cloud Tasks invoker"
  description  = "OIDC identity on Cloud Tasks requests; may invoke only the worker and controller."
}

resource "google_service_account" "events" {
  project      = var.project_id
  account_id   = "${local.prefix}-events"
  display_name = "PromptForge ${var.environment} Eventarc delivery"
  description  = "Delivers upload-finalized events; may invoke only the ingest function."
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${local.prefix}-build"
  display_name = "PromptForge ${var.environment} function builds"
  description  = "Cloud Build identity for building the function images; reads sources, writes images and logs."
}

locals {
  runtime_members = {
    api        = "serviceAccount:${module.function["api"].service_account_email}"
    ingest     = "serviceAccount:${module.function["ingest"].service_account_email}"
    worker     = "serviceAccount:${module.function["worker"].service_account_email}"
    controller = "serviceAccount:${module.function["controller"].service_account_email}"
  }

  # Who touches which bucket (promptforge.gcp: "worker" tasks go to the worker; ingest, slice,
  # finalize, expiry and control tasks go to the controller; the ingest function only turns the
  # upload event into a named ingest task). Signed URLs act with the signer's rights: the API
  # creates uploads (PUT, no overwrite) and reads results (GET). The worker touches no bucket.
  bucket_grants = {
    api_creates_uploads      = { fn = "api", bucket = google_storage_bucket.input.name, role = "roles/storage.objectCreator" }
    api_reads_results        = { fn = "api", bucket = google_storage_bucket.output.name, role = "roles/storage.objectViewer" }
    controller_reads_uploads = { fn = "controller", bucket = google_storage_bucket.input.name, role = "roles/storage.objectViewer" }
    controller_writes_output = { fn = "controller", bucket = google_storage_bucket.output.name, role = "roles/storage.objectUser" }
  }

  # Project-level roles, only where the resource does not exist when Terraform runs: the
  # controller creates one queue per rate key on demand (ingest runs there), retunes and retires
  # them, so its queue rights cannot be granted per queue. The control queue is Terraform's
  # (queues.tf); no other function creates a queue. Firestore access is narrowed to the one
  # database by an IAM condition.
  project_grants = merge(
    { for fn in keys(local.runtime_members) : "${fn}_firestore" => { fn = fn, role = "roles/datastore.user", firestore = true } },
    { for fn in keys(local.runtime_members) : "${fn}_enqueue" => { fn = fn, role = "roles/cloudtasks.enqueuer", firestore = false } },
    { controller_queues = { fn = "controller", role = "roles/cloudtasks.queueAdmin", firestore = false } },
  )
}

resource "google_project_iam_member" "runtime" {
  for_each = local.project_grants

  project = var.project_id
  role    = each.value.role
  member  = local.runtime_members[each.value.fn]

  dynamic "condition" {
    for_each = each.value.firestore ? [1] : []
    content {
      title       = "only-${local.prefix}-database"
      description = "Only the PromptForge ${var.environment} Firestore database."
      expression  = "resource.name == \"projects/${var.project_id}/databases/${google_firestore_database.this.name}\""
    }
  }
}

resource "google_storage_bucket_iam_member" "runtime" {
  for_each = local.bucket_grants

  bucket = each.value.bucket
  role   = each.value.role
  member = local.runtime_members[each.value.fn]
}

# The API signs upload and result URLs with the IAM signBlob API (no key file exists), which
# needs token-creator on its own service account and nothing else.
resource "google_service_account_iam_member" "api_signs_urls" {
  service_account_id = module.function["api"].service_account_id
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.runtime_members.api
}

# Every function enqueues tasks that carry an OIDC token for the tasks identity; Cloud Tasks
# requires the caller to have iam.serviceAccounts.actAs on it. Granted on that account only.
resource "google_service_account_iam_member" "enqueuers_act_as_tasks" {
  for_each = local.runtime_members

  service_account_id = google_service_account.tasks.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

# --- Eventarc: Cloud Storage -> ingest ------------------------------------------------------

data "google_storage_project_service_account" "gcs" {
  project = var.project_id

  depends_on = [google_project_service.this]
}

# Cloud Storage publishes object events through Pub/Sub for Eventarc. The role has no narrower
# scope: Eventarc creates its transport topic when the trigger is made.
resource "google_project_iam_member" "gcs_publishes_events" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# Receiving events is a project-level permission in Eventarc; invoking is granted on ingest only.
resource "google_project_iam_member" "events_receive" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.events.email}"
}

# --- Cloud Build identity for the function builds -------------------------------------------

resource "google_project_iam_member" "build_writes_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.build.email}"
}

resource "google_artifact_registry_repository_iam_member" "build_pushes_images" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

# Cloud Functions stages each build's source in its own gcf-v2-sources-* bucket, which it creates
# and which Terraform cannot name in advance: read access only there, by condition.
resource "google_project_iam_member" "build_reads_staged_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.build.email}"

  condition {
    title       = "only-gcf-staged-sources"
    description = "Only the buckets Cloud Functions creates for staged sources."
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${data.google_project.this.number}-\")"
  }
}
