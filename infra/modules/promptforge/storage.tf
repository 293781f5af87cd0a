# Buckets: uploads in, results out, function sources. All private: uniform bucket-level access,
# public access prevention enforced, and no IAM binding to allUsers/allAuthenticatedUsers anywhere.
# Users reach objects only through V4 signed URLs that the API signs (15 min up, 60 min down).

resource "google_storage_bucket" "input" {
  # checkov:skip=CKV_GCP_62:Access is recorded by Data Access audit logs (google_project_iam_audit_config.storage below, DATA_READ and DATA_WRITE) instead of legacy usage-log buckets.
  project                     = var.project_id
  name                        = "${var.project_id}-${local.prefix}-uploads"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = local.labels

  # A replayed upload URL (a client retrying its PUT) overwrites the object while ingest may
  # still be reading the generation the job was started on: keep that generation readable
  # for a day after it is replaced, then delete it.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 1
    }
    action {
      type = "Delete"
    }
  }

  # An upload is read once by ingest; after that it is only evidence for a support question.
  lifecycle_rule {
    condition {
      age = var.input_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  dynamic "cors" {
    for_each = length(var.upload_cors_origins) > 0 ? [1] : []
    content {
      origin          = var.upload_cors_origins
      method          = ["PUT"]
      response_header = ["Content-Type"]
      max_age_seconds = 3600
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket" "output" {
  # checkov:skip=CKV_GCP_62:Access is recorded by Data Access audit logs (google_project_iam_audit_config.storage below, DATA_READ and DATA_WRITE) instead of legacy usage-log buckets.
  # checkov:skip=CKV_GCP_78:Result files are written once by finalize and can be rebuilt from Firestore outcomes; soft delete (on by default, 7 days) recovers deletions, and versions would keep data the retention rule is meant to delete.
  project                     = var.project_id
  name                        = "${var.project_id}-${local.prefix}-results"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = local.labels

  # Results are fetched through 60-minute signed URLs; old jobs' files go after the retention.
  lifecycle_rule {
    condition {
      age = var.output_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.this]
}

# Zipped function sources, named by content hash. No age-based deletion: a build may need the
# current archive again, and Terraform would have to re-upload it.
resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62:Access is recorded by Data Access audit logs (google_project_iam_audit_config.storage below, DATA_READ and DATA_WRITE) instead of legacy usage-log buckets.
  # checkov:skip=CKV_GCP_78:Objects are immutable build inputs named by content hash and re-uploaded by Terraform if missing; versions would never be read.
  project                     = var.project_id
  name                        = "${var.project_id}-${local.prefix}-sources"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # only build artefacts, rebuilt from the repository
  labels                      = local.labels

  depends_on = [google_project_service.this]
}

# Built function images, with old ones cleaned up.
resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84:The images hold only the open-source function code and public dependencies (no secrets, no user data); Google-managed encryption at rest is enough and a KMS key per environment would add cost and a key-rotation duty for nothing.
  project       = var.project_id
  location      = var.region
  repository_id = "${local.prefix}-functions"
  description   = "Images Cloud Build makes from the PromptForge function sources."
  format        = "DOCKER"
  labels        = local.labels

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s" # 30 days
    }
  }

  depends_on = [google_project_service.this]
}

# Data Access audit logs for Cloud Storage stand in for legacy usage-log buckets: every read and
# write of uploads and results is recorded in Cloud Logging with the caller's identity.
resource "google_project_iam_audit_config" "storage" {
  project = var.project_id
  service = "storage.googleapis.com"

  audit_log_config {
    log_type = "DATA_READ"
  }

  audit_log_config {
    log_type = "DATA_WRITE"
  }
}
