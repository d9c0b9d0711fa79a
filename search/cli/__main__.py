"""`python -m search.cli ...` is `vidnas ...` (as it was before the CLI became a package)."""
import sys

from search.cli.main import main

sys.exit(main())
