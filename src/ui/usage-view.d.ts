// usage-view.js is served to browsers, not imported: imported `with { type: "file" }` it is a path (embedded in the compiled executable).
declare const path: string;
export default path;
