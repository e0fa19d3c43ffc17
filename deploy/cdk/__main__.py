"""``python -m deploy.cdk [--build-dir build] [--out DIR] [STAGE ...]``: synthesize the CDK app offline.

Without stages: every production stage packaged under ``--build-dir``. Without ``--out``: the CDK CLI's
output folder when the CLI runs the app (``cdk.json``), else ``<build-dir>/cdk.out``.
"""

import sys

from deploy.cdk.cli import main

sys.exit(main())
