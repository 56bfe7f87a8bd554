// noon-connect/http: the connect endpoints on Web Request → Response, and the node:http adapter.

export {
  type ConnectHandler,
  type ConnectHandlerOptions,
  createConnectHandler,
  outcomeResponse,
  type StartParams,
} from './handler.js';
export { sendWebResponse, toNodeListener, toWebRequest } from './node.js';
export {
  htmlResponse,
  notFoundPage,
  type OutcomeStatus,
  outcomePage,
  PAGE_HEADERS,
  type PageContent,
  renderPage,
  wayBack,
} from './pages.js';
export { badTargetResponse, isPlainTarget } from './target.js';
