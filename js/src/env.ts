// The page's document, or undefined outside a browser (Node, workers). Read
// once, when the module first runs: the document of a page never changes.
export const doc: Document | undefined = typeof document != 'undefined' ? document : undefined;
