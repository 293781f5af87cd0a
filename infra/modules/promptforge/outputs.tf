output "api_run_url" {
  description = "run.app URL of the API's Cloud Run service (same API, other host name)."
  value       = module.function["api"].uri
}

output "api_url" {
  description = "Base URL of the public API (PROMPTFORGE_URL for the CLI)."
  value       = module.function["api"].url
}

output "environment" {
  description = "The PROMPTFORGE_* settings every function runs with (no secrets among them)."
  value       = local.environment
}

output "firestore_database" {
  description = "Firestore database id."
  value       = google_firestore_database.this.name
}

output "function_urls" {
  description = "Deterministic run.app URL of each function (the worker and controller are private)."
  value       = local.run_urls
}

output "input_bucket" {
  description = "Bucket that receives uploads through signed URLs."
  value       = google_storage_bucket.input.name
}

output "output_bucket" {
  description = "Bucket that holds result shards and errors.jsonl."
  value       = google_storage_bucket.output.name
}

output "provider_secret_ids" {
  description = "Secret Manager secret id per provider; add the key with `gcloud secrets versions add ID --data-file=-`."
  value       = { for p, s in google_secret_manager_secret.provider_key : p => s.secret_id }
}

output "service_accounts" {
  description = "Service account email of each identity this environment uses."
  value = {
    api        = module.function["api"].service_account_email
    ingest     = module.function["ingest"].service_account_email
    worker     = module.function["worker"].service_account_email
    controller = module.function["controller"].service_account_email
    tasks      = google_service_account.tasks.email
    events     = google_service_account.events.email
    build      = google_service_account.build.email
  }
}
