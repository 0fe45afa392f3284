"""The engine: runs a command's pipeline (see deployer.Deployer)."""
