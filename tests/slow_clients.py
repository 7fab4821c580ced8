#!/usr/bin/env python3
"""Slow-body flood against a running `pingyi serve` (RELIABILITY.md, "Hostile clients").

Usage: slow_clients.py PORT CONNECTIONS SECONDS SERVER_PID ADDRESSES
Opens CONNECTIONS connections from ADDRESSES loopback source addresses (127.0.0.2, …), each
announcing a 100,000-byte form body and sending one byte per second; meanwhile asks /health
from 127.0.0.1 every 0.2 s and reads the server's RSS. Prints what the server did.
"""
import socket, time, sys, selectors, urllib.request
port=int(sys.argv[1]); n=int(sys.argv[2]); secs=int(sys.argv[3]); pid=int(sys.argv[4])
socks=[]; refused=0
t0=time.time()
for i in range(n):
    s=socket.socket()
    s.bind(("127.0.0.%d"%(2+i%int(sys.argv[5])),0))
    s.setblocking(True)
    try:
        s.connect(("127.0.0.1",port))
        s.sendall(b"POST /s/none HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n")
        s.setblocking(False)
        socks.append(s)
    except OSError:
        refused+=1
health=[]; rss=0; closed=0; answered={}
alive=list(socks)
last=time.time()
while time.time()-t0<secs:
    # one byte per second on every live socket
    if time.time()-last>=1:
        last=time.time()
        still=[]
        for s in alive:
            try:
                s.send(b"a"); still.append(s)
            except OSError:
                closed+=1
        alive=still
    sel=selectors.DefaultSelector()
    for s in alive: sel.register(s, selectors.EVENT_READ)
    r=[k.fileobj for k,_ in sel.select(0.05)] if alive else []
    sel.close()
    for s in r:
        try:
            d=s.recv(4096)
        except OSError:
            d=b""
        if d.startswith(b"HTTP/1.1 "):
            code=d[9:12].decode(); answered[code]=answered.get(code,0)+1
        alive.remove(s); s.close(); closed+=1
    h0=time.time()
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/health"%port, timeout=5).read()
        health.append(time.time()-h0)
    except Exception as e:
        health.append(99)
    try:
        rss=max(rss,int(open("/proc/%d/status"%pid).read().split("VmRSS:")[1].split()[0]))
    except Exception: pass
    time.sleep(0.2)
health.sort()
print("connections tried %d, refused at connect %d, closed by server %d, still open %d, answers %s"%(n,refused,closed,len(alive),answered))
print("/health: %d checks, median %.1f ms, max %.1f ms, failed %d"%(len(health),1000*health[len(health)//2],1000*max(health),sum(1 for h in health if h>=99)))
print("server peak RSS %.0f MB"%(rss/1024))
