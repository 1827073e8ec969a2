// The console's scripts: each finds the elements it works on, so one
// module serves every page. No inline script exists anywhere (the Content
// Security Policy forbids it), and nothing here builds HTML from data: the
// live parts are HTML rendered (and escaped) by the server's templates,
// the charts and the upload's messages are built with DOM calls and
// textContent.
import { startLive } from './live.js';
import { startCharts } from './chart.js';
import { startAdd } from './add.js';

startLive(document);
startCharts(document);
startAdd(document);
