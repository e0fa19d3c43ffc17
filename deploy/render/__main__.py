"""``python -m deploy.render STAGE OUT.json`` / ``python -m deploy.render --key-region REGION OUT.json``."""

import sys

from deploy.render import main

sys.exit(main())
