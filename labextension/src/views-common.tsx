/** What the views share beyond common.tsx: refreshing when the store changes. */
import * as React from 'react';

import '../style/views.css';
import { apiGet } from './request';

/** How often a visible view asks whether the registry or the deployments changed. */
export const CHANGE_POLL_MS = 3000;

/** Whether an element is on screen: attached, displayed, and the page not hidden. */
function visible(node: HTMLElement | null): boolean {
  return !!node && !document.hidden && node.isConnected && node.getClientRects().length > 0;
}

/**
 * Call `onChange` when the store's change marker (`GET changes`: the newest audit event)
 * moves: a promote from a notebook or a shell, a registration, a deployment. The marker
 * is polled only while `node` is visible, so a collapsed sidebar or a hidden tab costs
 * nothing.
 */
export function useChangeMarker(
  node: React.RefObject<HTMLElement>,
  onChange: () => void
): void {
  const last = React.useRef<string | null | undefined>(undefined);
  const callback = React.useRef(onChange);
  callback.current = onChange;
  React.useEffect(() => {
    let stopped = false;
    const check = () => {
      if (!visible(node.current)) {
        return;
      }
      apiGet('/nbmlops/api/changes').then(
        answer => {
          if (stopped) {
            return;
          }
          if (last.current !== undefined && answer.marker !== last.current) {
            callback.current();
          }
          last.current = answer.marker;
        },
        () => undefined // a failed poll is retried at the next tick
      );
    };
    check();
    const timer = window.setInterval(check, CHANGE_POLL_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [node]);
}
