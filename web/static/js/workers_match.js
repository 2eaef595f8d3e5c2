// Which workers would take a run, by the web app's poll rule (web/routes_worker.c,
// labels_cover): a worker takes a run when it has every one of the run's runsOn labels (no
// labels: any worker). The wizard's worker check and the run page's verdict both use it.

// Does worker w have every label of runsOn?
export function hasLabels(w, runsOn) {
	return (runsOn || []).every((l) => (w.labels || []).includes(l));
}

// A worker that polls: neither OFFLINE nor CRASHED.
export function isOnline(w) {
	return !!w && !!w.state && w.state !== 'OFFLINE' && w.state !== 'CRASHED';
}

// workers split by runsOn: fit (every label, online or not), online (every online worker) and
// matching (fit and online: those that would take the run now or when free).
export function matchWorkers(workers, runsOn) {
	const all = (workers || []).filter(Boolean);
	const fit = all.filter((w) => hasLabels(w, runsOn));
	return { fit, online: all.filter(isOnline), matching: fit.filter(isOnline) };
}
