use natsd_testkit as _;
