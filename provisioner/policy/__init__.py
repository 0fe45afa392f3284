"""IAM policies: canonical form and comparison, generated grants, lint."""
