import sys

from tensorrnn.cli import main

sys.exit(main())
