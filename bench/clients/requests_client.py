# Python requests.Session (keep-alive): URL COUNT [POST_FILE] -> seconds per request
import sys, time, requests
url, count = sys.argv[1], int(sys.argv[2])
body = open(sys.argv[3], "rb").read() if len(sys.argv) > 3 else None
s = requests.Session()
s.headers.update({"Accept": "application/json"})
def once():
    if body is not None:
        r = s.post(url, data=body, headers={"Content-Type": "application/json"})
    else:
        r = s.get(url)
        r.json()
    r.raise_for_status()
once()
t0 = time.perf_counter()
for _ in range(count):
    once()
print((time.perf_counter() - t0) / count)
