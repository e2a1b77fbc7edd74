// Preloaded by bunfig.toml before every test file. The suite starts real servers (SSH, HTTP, UDP) and
// compiles the image's executable; a slow CI machine needs more than bun's default 5 s for some tests.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(30_000);
