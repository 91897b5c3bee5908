# region, domain and soa_email (platform.yaml's acme_email) are set by `platctl init`
# from platform.yaml: change them there.
region                             = "fr-par"
state_bucket_name                  = "infra-state"
loki_bucket_name                   = "platform-loki-chunks"
noncurrent_version_expiration_days = 90
domain                             = "platform.example.com"
soa_email                          = "platform-team@example.com"
