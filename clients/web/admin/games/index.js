// Spectator renderers by game kind; a kind without one is drawn generically (phase, scores).
import * as quiz from "./quiz.js";

export const renderers = { quiz };
