import sys

from infra.rehearsal.run import main

sys.exit(main())
