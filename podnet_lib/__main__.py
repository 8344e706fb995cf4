"""`python -m podnet_lib ...`: see podnet_lib.cli."""
from podnet_lib.cli import main

raise SystemExit(main())
