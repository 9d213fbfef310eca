"""
Example bots, each a module with a C{setup(rtm)} function, ready to run::

    twistd -n slackrtm --demo --bot txslackrtm.examples.echo
    twistd -n slackrtm --demo --bot txslackrtm.examples.threads

L{echo<txslackrtm.examples.echo>} repeats what people say; L{threads
<txslackrtm.examples.threads>} shows that it is typing, then answers in a thread.
C{python -m txslackrtm.examples.demo} runs the demo without twistd. Copy one to start a bot
of your own.
"""
