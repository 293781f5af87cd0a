# Firestore (native mode): jobs, API keys, prompt outcomes, sharded counters, rate-control state.

resource "google_firestore_database" "this" {
  project                           = var.project_id
  name                              = var.firestore_database
  location_id                       = coalesce(var.firestore_location, var.region)
  type                              = "FIRESTORE_NATIVE"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = var.firestore_protect ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.firestore_protect ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.firestore_protect ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.this]
}

locals {
  # The library's query needs, in the Firebase CLI's firestore.indexes.json format:
  #   {"indexes": [{"collectionGroup", "queryScope", "fields": [{"fieldPath", "order"|"arrayConfig"}]}],
  #    "fieldOverrides": [{"collectionGroup", "fieldPath", "ttl", "indexes": [...]}]}
  # A missing file means no composite index yet; a malformed one fails the plan.
  firestore_index_doc = jsondecode(
    var.firestore_indexes_file != null && fileexists(coalesce(var.firestore_indexes_file, "/nonexistent"))
    ? file(var.firestore_indexes_file)
    : "{}"
  )

  firestore_indexes = {
    for index in try(local.firestore_index_doc.indexes, []) :
    join("/", concat(
      [index.collectionGroup, try(index.queryScope, "COLLECTION")],
      [for f in index.fields : "${f.fieldPath}:${try(f.order, f.arrayConfig)}"],
    )) => index
  }

  firestore_field_overrides = {
    for field in try(local.firestore_index_doc.fieldOverrides, []) :
    "${field.collectionGroup}/${field.fieldPath}" => field
  }
}

resource "google_firestore_index" "this" {
  for_each = local.firestore_indexes

  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = each.value.collectionGroup
  query_scope = try(each.value.queryScope, "COLLECTION")

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.fieldPath
      order        = try(fields.value.order, null)
      array_config = try(fields.value.arrayConfig, null)
    }
  }
}

# Single-field overrides: TTL policies (expired documents are deleted by Firestore) and exempting
# large fields such as prompt text from indexing.
resource "google_firestore_field" "this" {
  for_each = local.firestore_field_overrides

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.value.collectionGroup
  field      = each.value.fieldPath

  dynamic "ttl_config" {
    for_each = try(each.value.ttl, false) ? [1] : []
    content {}
  }

  dynamic "index_config" {
    for_each = can(each.value.indexes) ? [each.value.indexes] : []
    content {
      dynamic "indexes" {
        for_each = index_config.value
        content {
          query_scope  = try(indexes.value.queryScope, "COLLECTION")
          order        = try(indexes.value.order, null)
          array_config = try(indexes.value.arrayConfig, null)
        }
      }
    }
  }
}
