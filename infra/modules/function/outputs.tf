output "name" {
  description = "Function name (equal to its Cloud Run service name)."
  value       = google_cloudfunctions2_function.this.name
}

output "service_account_email" {
  description = "Email of the function's own runtime service account."
  value       = google_service_account.this.email
}

output "service_account_id" {
  description = "Resource id (projects/P/serviceAccounts/EMAIL) of the function's runtime service account."
  value       = google_service_account.this.name
}

output "source_object" {
  description = "Object in the source bucket that the current build was made from."
  value       = google_storage_bucket_object.source.name
}

output "uri" {
  description = "run.app URL of the function's Cloud Run service."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "url" {
  description = "cloudfunctions.net URL of the function."
  value       = google_cloudfunctions2_function.this.url
}
