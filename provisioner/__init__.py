"""provisioner: one YAML spec -> a serverless AWS environment."""

__version__ = "0.1.0"
