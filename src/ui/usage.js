// The header's switch between the machines and the Usage view (/ui#usage). The view itself (usage-view.js, its
// charts and stylesheets) is imported when it is first opened, so the machines view loads only this.
const view = document.getElementById("usage");
const machines = document.getElementById("machines");
const notice = document.getElementById("notice");

function route() {
  const usage = location.hash === "#usage";
  view.hidden = !usage;
  machines.hidden = usage;
  for (const [id, current] of [
    ["nav-usage", usage],
    ["nav-machines", !usage],
  ]) {
    if (current) document.getElementById(id).setAttribute("aria-current", "page");
    else document.getElementById(id).removeAttribute("aria-current");
  }
  if (!usage) return;
  import("./usage-view.js")
    .then((v) => v.open())
    .catch((err) => {
      notice.textContent = err.message;
      notice.hidden = false;
    });
}

window.addEventListener("hashchange", route);
route();
