// Entry point of the dashboard bundle: one script for every page, picked by
// <body data-page>. The same bundle renders saved performance reports.

import 'uplot/dist/uPlot.min.css';
import './style.css';
import { infoPage } from './info.js';
import { reportPage } from './report.js';
import { statusPage } from './status.js';
import { workersPage } from './workers.js';

const pages: Record<string, () => void> = {
  status: statusPage,
  workers: workersPage,
  info: infoPage,
  report: reportPage,
};

(pages[document.body.dataset.page ?? 'status'] ?? statusPage)();
