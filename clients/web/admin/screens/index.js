// The console's screens, in nav order. To add one (disputes, tournaments, pools, challenges):
// write screens/<name>.js exporting default { id, title, roles, mount(root, ctx) } and add it here.
import dashboard from "./dashboard.js";
import players from "./players.js";
import rooms from "./rooms.js";
import approvals from "./approvals.js";
import audit from "./audit.js";
import disputes from "./disputes.js";
import tournaments from "./tournaments.js";
import pools from "./pools.js";
import challenges from "./challenges.js";

export const screens = [dashboard, players, rooms, approvals, disputes, audit];
screens.push(tournaments, pools, challenges);  // competitions (one line each to merge)
