"""`python -m modelyard.cli` runs the CLI (as the `modelyard` console script does)."""

from modelyard.cli.app import main

main()
