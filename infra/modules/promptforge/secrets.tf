# Provider API keys live in Secret Manager as <prefix>-<env>-<provider>-api-key. Terraform creates
# the empty secrets; the values are added with `gcloud secrets versions add` so they never enter
# the Terraform state. Only the worker (which calls the providers) may read them.

resource "google_secret_manager_secret" "provider_key" {
  for_each = toset(var.llm_providers)

  project   = var.project_id
  secret_id = "${local.prefix}-${each.value}-api-key"
  labels    = merge(local.labels, { provider = each.value })

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

resource "google_secret_manager_secret_iam_member" "worker_reads_provider_key" {
  for_each = google_secret_manager_secret.provider_key

  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${module.function["worker"].service_account_email}"
}
