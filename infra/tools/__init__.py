"""Tools that assemble and check the Terraform deployment (see infra/tools/assemble.py)."""
