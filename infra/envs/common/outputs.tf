output "api_url" {
  description = "Base URL of the public API: export PROMPTFORGE_URL=$(terraform output -raw api_url)."
  value       = module.promptforge.api_url
}

output "function_urls" {
  description = "run.app URL of each function."
  value       = module.promptforge.function_urls
}

output "input_bucket" {
  description = "Bucket that receives uploads."
  value       = module.promptforge.input_bucket
}

output "output_bucket" {
  description = "Bucket that holds results."
  value       = module.promptforge.output_bucket
}

output "provider_secret_ids" {
  description = "Secret Manager secret id per provider."
  value       = module.promptforge.provider_secret_ids
}

output "service_accounts" {
  description = "Service account of each identity."
  value       = module.promptforge.service_accounts
}
