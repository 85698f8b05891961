import sys
from pathlib import Path

# tests/integration/cluster.py is imported by name from the integration tests.
sys.path.insert(0, str(Path(__file__).parent / "integration"))
