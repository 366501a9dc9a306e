/** The one freePort lives with the e2e apps (the demo imports it too); tests keep importing it from here. */
export { freePort } from '../../e2e/apps/free-port.js';
