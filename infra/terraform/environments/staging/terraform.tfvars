# The staging environment's settings, committed: Cloud Build's terraform step reads this file
# (terraform loads terraform.tfvars from the working directory) and passes the rest with -var
# (project_id, region, build_dir, dashboard_image). Edit it as docs/deploy.md says, commit,
# push. The placeholders are refused by the variables' validations, so a plan cannot run
# with them.

# The Telegram chat that receives this environment's alerts (numeric id, e.g. -1001234567890).
telegram_chat_id = "SET-ME"

# Who may open the dashboards through IAP (user:..., group:...).
dashboard_invokers = ["group:fund-admins@example.com"]

# Secrets that already have a version (step 6 of docs/deploy.md): only these are mounted.
# Possible: "telegram-bot-token", "zerodha-accounts".
configured_secrets = []

# Alert policies and budget mails.
alert_emails = ["ops@example.com"]

# Billing account id for the monthly budget; "" for no budget.
billing_account = ""
monthly_budget  = 150
