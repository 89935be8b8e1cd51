// Spectator renderers by game kind; a kind without one is drawn generically (phase, scores).
import * as quiz from "./quiz.js";
import * as wager from "./wager.js";

export const renderers = { quiz, wager };
