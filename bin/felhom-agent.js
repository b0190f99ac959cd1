#!/usr/bin/env node
// The published entry: the compiled CLI (`npm run build` writes dist/).
import "../dist/main.js"
