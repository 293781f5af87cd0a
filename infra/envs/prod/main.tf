# Production: protected database (delete protection, point-in-time recovery), buckets that refuse
# to be destroyed while they hold data, one warm API instance, deploys behind an approval.

module "promptforge" {
  source = "../../modules/promptforge"

  project_id  = var.project_id
  region      = var.region
  environment = "prod"

  # Relative paths keep the plan identical on every machine (written by scripts/package_functions.py).
  functions_source_dir   = "${path.root}/../../../build/functions"
  firestore_indexes_file = "${path.root}/../../../shared/promptforge/gcp/firestore_indexes.json"

  firestore_protect     = true
  force_destroy_buckets = false
  input_retention_days  = 7
  output_retention_days = 30

  function_config = {
    api    = { min_instances = 1, max_instances = 50 }
    worker = { max_instances = 300 }
  }

  deploy_trigger = var.deploy_trigger
}
