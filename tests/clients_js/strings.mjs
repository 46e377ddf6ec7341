// Prints the demo page's text tables (web-demo/strings.js) as JSON, for tests/e2e/test_demo_khmer.py.
import { LANGUAGES, MONTHS, STRINGS } from '../../web-demo/strings.js';

process.stdout.write(JSON.stringify({ LANGUAGES, MONTHS, STRINGS }));
