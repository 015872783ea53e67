# Topics, their dead-letter topics, and the push subscriptions that deliver to
# the functions (the same topology devstack/emulated.py builds on the emulator).

locals {
  topics = toset(["standardized-signals", "trading-orders", "execution-confirmations", "notifications",
  "dashboard-refresh", "ibkr-orders"])
  topic_ids = merge(
    { for t in local.topics : t => google_pubsub_topic.topic[t].id },
    { for t in local.topics : "${t}-dead-letter" => google_pubsub_topic.dead_letter[t].id },
  )
  # One push subscription per (function, trigger topic).
  push_subscriptions = merge([
    for name, fn in local.functions : {
      for topic in fn.trigger_topics : "${topic}/${name}" => { function = name, topic = topic }
    }
  ]...)
}

resource "google_pubsub_topic" "topic" {
  for_each                   = local.topics
  project                    = var.project_id
  name                       = each.value
  message_retention_duration = "86400s"
  depends_on                 = [google_project_service.api]
  # checkov:skip=CKV_GCP_83: Google-managed encryption; CMEK adds key custody without a requirement for it yet
}

resource "google_pubsub_topic" "dead_letter" {
  for_each                   = local.topics
  project                    = var.project_id
  name                       = "${each.value}-dead-letter"
  message_retention_duration = "604800s"
  depends_on                 = [google_project_service.api]
  # checkov:skip=CKV_GCP_83: Google-managed encryption; CMEK adds key custody without a requirement for it yet
}

# Keeps dead letters for a week so an operator can inspect and replay them.
resource "google_pubsub_subscription" "dead_letter_archive" {
  for_each                   = local.topics
  project                    = var.project_id
  name                       = "${each.value}-dead-letter-archive"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  message_retention_duration = "604800s"
  retain_acked_messages      = true
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}

resource "google_service_account" "pubsub_invoker" {
  project      = var.project_id
  account_id   = "${var.environment}-pubsub-invoker"
  display_name = "Pub/Sub push identity (${var.environment})"
  depends_on   = [google_project_service.api]
}

resource "google_pubsub_subscription" "push" {
  for_each             = local.push_subscriptions
  project              = var.project_id
  name                 = "${each.value.topic}-${replace(each.value.function, "_", "-")}"
  topic                = local.topic_ids[each.value.topic]
  ack_deadline_seconds = 60

  push_config {
    push_endpoint = module.function[each.value.function].uri
    oidc_token {
      service_account_email = google_service_account.pubsub_invoker.email
      audience              = module.function[each.value.function].uri
    }
  }

  # A book's signals and an account's orders carry ordering keys: delivered in sequence.
  enable_message_ordering = contains(["standardized-signals", "trading-orders"], each.value.topic)

  retry_policy {
    minimum_backoff = "1s"
    maximum_backoff = "60s"
  }

  # A dead letter's own delivery is retried, never dead-lettered again. Fifteen attempts span
  # about ten minutes of backoff: longer than any claim lease or book wait, so only poison
  # (which the functions dead-letter themselves at once) ends there.
  dynamic "dead_letter_policy" {
    for_each = endswith(each.value.topic, "-dead-letter") ? [] : [each.value.topic]
    content {
      dead_letter_topic     = google_pubsub_topic.dead_letter[dead_letter_policy.value].id
      max_delivery_attempts = 15
    }
  }

  expiration_policy {
    ttl = ""
  }
}

resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = toset([for s in values(local.push_subscriptions) : s.function])
  project  = var.project_id
  location = var.region
  service  = module.function[each.key].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_invoker.email}"
}

# The Pub/Sub service agent mints the OIDC tokens and moves dead letters.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.pubsub_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.topics
  project  = var.project_id
  topic    = google_pubsub_topic.dead_letter[each.key].name
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = local.push_subscriptions
  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The IBKR bridge on the gateway VM pulls its orders (it keeps one stateful connection to
# IB Gateway, so it cannot be a push endpoint). Named as PubSubBus names a worker's subscription.
resource "google_pubsub_subscription" "ibkr_bridge" {
  project                    = var.project_id
  name                       = "ibkr-orders.bridge"
  topic                      = google_pubsub_topic.topic["ibkr-orders"].id
  ack_deadline_seconds       = 60
  message_retention_duration = "86400s"

  retry_policy {
    minimum_backoff = "1s"
    maximum_backoff = "60s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter["ibkr-orders"].id
    max_delivery_attempts = 15
  }

  expiration_policy {
    ttl = ""
  }
}

# The service agent acknowledges what it moves to the dead-letter topic.
resource "google_pubsub_subscription_iam_member" "bridge_dead_letter_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.ibkr_bridge.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "bridge_pulls_ibkr_orders" {
  project      = var.project_id
  subscription = google_pubsub_subscription.ibkr_bridge.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${module.gateway_vm.service_account_email}"
}

# What the bridge's code publishes (tests/infra/code_routes.py): confirmations, alerts (breaks,
# lost sessions), its dead letters, and ibkr-orders (ExecutionService's bridged route, which the
# bridge takes only for a broker it does not hold).
locals {
  bridge_publishes = ["execution-confirmations", "notifications", "ibkr-orders-dead-letter", "ibkr-orders"]
}

resource "google_pubsub_topic_iam_member" "bridge_publishes" {
  for_each = toset(local.bridge_publishes)
  project  = var.project_id
  topic    = local.topic_ids[each.value]
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${module.gateway_vm.service_account_email}"
}

resource "google_project_iam_member" "bridge_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${module.gateway_vm.service_account_email}"
}
