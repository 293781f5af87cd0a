# Development: small, cheap, disposable. Buckets and the database may be destroyed with their
# contents; results are kept a week.

module "promptforge" {
  source = "../../modules/promptforge"

  project_id  = var.project_id
  region      = var.region
  environment = "dev"

  # Relative paths keep the plan identical on every machine (written by scripts/package_functions.py).
  functions_source_dir   = "${path.root}/../../../build/functions"
  firestore_indexes_file = "${path.root}/../../../shared/promptforge/gcp/firestore_indexes.json"

  firestore_protect     = false
  force_destroy_buckets = true
  input_retention_days  = 3
  output_retention_days = 7

  function_config = {
    api    = { max_instances = 3 }
    ingest = { max_instances = 2 }
    worker = { max_instances = 10 }
  }

  # 10 workers x 80 concurrent requests: a rate key's queues may hold that many dispatches.
  max_concurrent_dispatches = 800

  deploy_trigger = var.deploy_trigger
}
