# The fixed Cloud Tasks queue. The functions create no queue at start-up: the control queue is
# made here, and only the controller creates (and retires) the per-rate-key queues on demand.

locals {
  # core/queues.py CONTROL_QUEUE_CONFIG; the name is core/deps.py CONTROL_QUEUE.
  control_queue = {
    name                      = "pf-control"
    max_dispatches_per_second = 500
    max_concurrent_dispatches = 50
  }
}

resource "google_cloud_tasks_queue" "control" {
  project  = var.project_id
  name     = local.control_queue.name
  location = local.tasks_location

  rate_limits {
    max_dispatches_per_second = local.control_queue.max_dispatches_per_second
    max_concurrent_dispatches = local.control_queue.max_concurrent_dispatches
  }

  # Ingest, slice, finalize, expiry and controller ticks are retried for as long as it takes.
  retry_config {
    max_attempts  = -1
    min_backoff   = "1s"
    max_backoff   = "60s"
    max_doublings = 5
  }

  depends_on = [google_project_service.this]
}
