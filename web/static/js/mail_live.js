// Settings → Mail log, live. The list is server-rendered; when something that sends mail
// happens (a workflow email, an order, a reply …) the list's region is re-fetched, and once
// more a few seconds later, when the SMTP hand-off has moved the new rows on to "sent".
import { onActivity, regionRefresher } from './live.js';

const MAILING_KINDS = new Set(['workflow_email_sent', 'order_placed', 'comment_replied',
  'download_bulk']);

if (document.querySelector('[data-live-region="mail"]')) {
  const refresh = regionRefresher(['mail']);
  let settle = null;
  onActivity((e) => {
    if (!MAILING_KINDS.has(e.kind)) return;
    refresh();
    clearTimeout(settle);
    settle = setTimeout(refresh, 3000);
  });
}
