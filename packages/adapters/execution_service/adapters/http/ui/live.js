// Live updates: the service's event stream (Server-Sent Events) when it has one; polling the
// REST API every 2 s when the stream is missing (404) or keeps failing, so the page is live
// either way. After the stream's `end` (a finished execution), a cheap check every 2 s
// reopens the stream when the execution changes again (a retry, a late node report).

const POLL_MS = 2000;
const ERRORS_BEFORE_POLLING = 3;

export class Live {
  constructor({ url, events, poll, watch = null, onMode = () => {} }) {
    this.url = url;
    this.events = events;
    this.poll = poll;
    this.watch = watch;
    this.onMode = onMode;
    this.source = null;
    this.timer = null;
    this.stopped = false;
  }

  start() {
    if (typeof EventSource === "undefined") return this.startPolling("no EventSource in this browser");
    this.openStream();
    return this;
  }

  stop() {
    this.stopped = true;
    this.closeStream();
    clearTimeout(this.timer);
  }

  openStream() {
    let errors = 0;
    const source = new EventSource(this.url);
    this.source = source;
    source.onopen = () => {
      errors = 0;
      this.onMode("stream");
    };
    for (const [name, handler] of Object.entries(this.events)) {
      source.addEventListener(name, (message) => {
        errors = 0;
        handler(JSON.parse(message.data));
      });
    }
    source.addEventListener("end", () => {
      this.closeStream();
      if (this.watch) this.every(POLL_MS, "finished", () => this.checkForChange());
      else this.onMode("finished");
    });
    source.onerror = () => {
      errors += 1;
      // CLOSED: the server answered, but not with a stream (404, 401, 503 …): no retrying.
      if (source.readyState === EventSource.CLOSED || errors >= ERRORS_BEFORE_POLLING) {
        this.closeStream();
        this.startPolling(source.readyState === EventSource.CLOSED ? "no stream" : "stream failing");
      } else {
        this.onMode("reconnecting");
      }
    };
  }

  closeStream() {
    if (this.source) this.source.close();
    this.source = null;
  }

  async checkForChange() {
    if (await this.watch()) {
      clearTimeout(this.timer);
      this.timer = null;
      if (!this.stopped) this.openStream();
      return false;
    }
    return true;
  }

  startPolling(reason) {
    this.pollReason = reason;
    this.every(POLL_MS, "polling", async () => {
      await this.poll();
      return true;
    });
    return this;
  }

  // Runs `work` now and then every `ms` after it finishes (never two at once), while it
  // returns true.
  every(ms, mode, work) {
    const tick = async () => {
      if (this.stopped) return;
      let again = true;
      try {
        again = await work();
        this.onMode(mode);
      } catch {
        this.onMode("offline");
      }
      if (again && !this.stopped) this.timer = setTimeout(tick, ms);
    };
    clearTimeout(this.timer);
    tick();
  }
}

export function modeText(mode) {
  return {
    stream: "Live",
    polling: "Live (polling every 2 s)",
    finished: "Finished · watching for changes",
    reconnecting: "Reconnecting…",
    offline: "Offline · retrying",
  }[mode] || mode;
}
